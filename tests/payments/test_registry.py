"""The registry builds adapters from settings: real merchant settings, or the simulator with demo keys."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ImproperlyConfigured

from payments.channels import RefundStatus, get_channel, notify_url, registry
from payments.channels.alipay import AlipayChannel
from payments.channels.demo_keys import DemoKeys
from payments.channels.registry import alipay_settings, warm_channels, wechat_settings
from payments.channels.wechat import WechatChannel
from payments.simulator.server import ChannelSimulator
from tests.channel_simulator import NotificationInbox
from tests.payments.helpers import ledger_refunds, paid_trade, refund_request

UNCONFIGURED = {"ALIPAY_APP_ID": "", "WECHAT_MCH_ID": ""}


def _unconfigure(settings: Any) -> None:
    for name, value in UNCONFIGURED.items():
        setattr(settings, name, value)


def test_unknown_channel_code() -> None:
    with pytest.raises(LookupError, match="unionpay"):
        get_channel("unionpay")


def test_notify_urls_follow_the_base_url(settings: Any) -> None:
    settings.PAYMENTS_NOTIFY_BASE_URL = "https://shop.example.cn/"
    assert notify_url("alipay") == "https://shop.example.cn/payments/notify/alipay/"
    assert notify_url("wechat") == "https://shop.example.cn/payments/notify/wechat/"


def test_unconfigured_channels_use_the_simulator_with_demo_keys_made_once(settings: Any, tmp_path: Path) -> None:
    _unconfigure(settings)
    settings.CHANNEL_SIMULATOR_ENABLED = True
    settings.CHANNEL_SIMULATOR_URL = "http://127.0.0.1:8765/"
    settings.CHANNEL_SIMULATOR_KEYS_DIR = tmp_path / "channel-keys"

    alipay, wechat = get_channel("alipay"), get_channel("wechat")

    assert isinstance(alipay, AlipayChannel)
    assert isinstance(wechat, WechatChannel)
    assert alipay_settings().gateway == "http://127.0.0.1:8765/gateway.do"
    assert wechat_settings().gateway == "http://127.0.0.1:8765"
    keys_dir = tmp_path / "channel-keys"
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in keys_dir.iterdir()} == {0o600}
    before = {p.name: p.read_bytes() for p in keys_dir.iterdir()}
    assert get_channel("alipay") is alipay  # cached per configuration
    settings.CHANNEL_SIMULATOR_KEYS_DIR = str(keys_dir)
    ids = json.loads((keys_dir / "ids.json").read_text())
    assert (alipay_settings().app_id, wechat_settings().mch_id) == (ids["alipay_app_id"], ids["wechat_mch_id"])
    assert {p.name: p.read_bytes() for p in keys_dir.iterdir()} == before


def test_without_settings_or_simulator_the_channel_refuses_to_start(settings: Any) -> None:
    _unconfigure(settings)
    settings.CHANNEL_SIMULATOR_ENABLED = False

    with pytest.raises(ImproperlyConfigured, match="CHANNEL_SIMULATOR_ENABLED"):
        get_channel("alipay")
    with pytest.raises(ImproperlyConfigured, match="CHANNEL_SIMULATOR_ENABLED"):
        get_channel("wechat")


def test_demo_mode_refunds_against_the_simulator(
    channel_simulator: ChannelSimulator, settings: Any, notification_inbox: NotificationInbox
) -> None:
    _unconfigure(settings)  # the fixture pointed CHANNEL_SIMULATOR_KEYS_DIR at the simulator's own keys
    settings.CHANNEL_SIMULATOR_ENABLED = True
    for code in ("alipay", "wechat"):
        trade = paid_trade(channel_simulator, code)
        req = refund_request(trade, "9.90")

        result = get_channel(code).refund(req)

        assert (result.status, result.amount) == (RefundStatus.SUCCESS, Decimal("9.90"))
        assert ledger_refunds(channel_simulator, trade[0]) == [(req.out_refund_no, "9.90", "SUCCESS")]


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ({"ALIPAY_PRIVATE_KEY_FILE": ""}, "ALIPAY_PRIVATE_KEY or ALIPAY_PRIVATE_KEY_FILE"),
        ({"ALIPAY_PUBLIC_KEY_FILE": "/nonexistent/alipay.pem"}, "ALIPAY_PUBLIC_KEY_FILE cannot be read"),
        ({"ALIPAY_PRIVATE_KEY": "not a key"}, "not a readable"),
    ],
)
def test_incomplete_alipay_settings_are_refused(
    channel_simulator: ChannelSimulator, settings: Any, missing: dict[str, str], message: str
) -> None:
    for name, value in missing.items():
        setattr(settings, name, value)

    with pytest.raises(ImproperlyConfigured, match=message):
        get_channel("alipay")


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ({"WECHAT_API_V3_KEY_FILE": "", "WECHAT_API_V3_KEY": "too-short"}, "32-character"),
        ({"WECHAT_PUBLIC_KEY_ID": ""}, "WECHAT_PUBLIC_KEY_ID"),
        ({"WECHAT_CERT_SERIAL_NO": ""}, "WECHAT_CERT_SERIAL_NO"),
        ({"WECHAT_PRIVATE_KEY_FILE": ""}, "WECHAT_PRIVATE_KEY or WECHAT_PRIVATE_KEY_FILE"),
    ],
)
def test_incomplete_wechat_settings_are_refused(
    channel_simulator: ChannelSimulator, settings: Any, missing: dict[str, str], message: str
) -> None:
    for name, value in missing.items():
        setattr(settings, name, value)

    with pytest.raises(ImproperlyConfigured, match=message):
        get_channel("wechat")


def _bare_base64(pem: str, *, private: bool) -> str:
    """Keys as the merchant consoles hand them out: bare base64, the private one in PKCS#1."""
    if private:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        der = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    else:
        der = serialization.load_pem_public_key(pem.encode()).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return base64.b64encode(der).decode()


def test_keys_given_as_bare_base64_work(
    channel_simulator: ChannelSimulator, channel_keys: DemoKeys, settings: Any
) -> None:
    settings.ALIPAY_PRIVATE_KEY = _bare_base64(channel_keys.alipay_app_private_key, private=True)
    settings.ALIPAY_PUBLIC_KEY = _bare_base64(channel_keys.alipay_platform_public_key, private=False)
    settings.WECHAT_PRIVATE_KEY = _bare_base64(channel_keys.wechat_merchant_private_key, private=True)
    settings.WECHAT_PUBLIC_KEY = _bare_base64(channel_keys.wechat_platform_public_key, private=False)
    settings.WECHAT_API_V3_KEY = channel_keys.wechat_api_v3_key
    for code in ("alipay", "wechat"):
        trade = paid_trade(channel_simulator, code)

        assert get_channel(code).refund(refund_request(trade, "1.00")).status == RefundStatus.SUCCESS


def test_secrets_never_show_in_reprs_or_logs(
    channel_simulator: ChannelSimulator,
    channel_keys: DemoKeys,
    notification_inbox: NotificationInbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [
        channel_keys.wechat_api_v3_key,
        *channel_keys.alipay_app_private_key.splitlines()[1:-1],
        *channel_keys.wechat_merchant_private_key.splitlines()[1:-1],
    ]
    shown = [repr(alipay_settings()), repr(wechat_settings()), repr(channel_keys)]
    for code in ("alipay", "wechat"):
        channel = get_channel(code)
        shown.append(repr(channel))
        trade = paid_trade(channel_simulator, code)
        result = channel.refund(refund_request(trade, "2.00"))
        shown.append(repr(result) + repr(dict(result.raw)))
    for posted in notification_inbox.wait_for(2):
        notice = get_channel("alipay" if "alipay" in posted.path else "wechat").parse_notification(
            posted.headers, posted.body
        )
        shown.append(repr(notice) + repr(dict(notice.raw)))

    text = "\n".join(shown) + caplog.text
    assert [s for s in secrets if s in text] == []


def test_adapters_are_built_once_per_configuration_and_again_when_a_key_file_changes(
    channel_simulator: ChannelSimulator, channel_keys: DemoKeys, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    alipay, wechat = get_channel("alipay"), get_channel("wechat")

    def no_parsing(text: str) -> str:
        raise AssertionError("a cached adapter was asked for, yet keys were parsed")

    monkeypatch.setattr(registry, "private_key_pem", no_parsing)
    monkeypatch.setattr(registry, "public_key_pem", no_parsing)
    assert (get_channel("alipay"), get_channel("wechat")) == (alipay, wechat)
    monkeypatch.undo()

    key_file = Path(settings.ALIPAY_PRIVATE_KEY_FILE)
    before = key_file.stat()
    os.utime(key_file, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))  # the file was rewritten
    rotated = get_channel("alipay")
    assert rotated is not alipay
    assert get_channel("alipay") is rotated
    assert get_channel("wechat") is wechat

    settings.CHANNEL_TIMEOUT_SECONDS = 7.0
    assert get_channel("wechat") is not wechat
    assert get_channel("wechat")._client._core._timeout == 7.0


def test_statement_clients_are_built_on_first_use_only(channel_simulator: ChannelSimulator, settings: Any) -> None:
    settings.CHANNEL_STATEMENT_TIMEOUT_SECONDS = 90.0
    alipay, wechat = get_channel("alipay"), get_channel("wechat")
    assert isinstance(alipay, AlipayChannel)
    assert isinstance(wechat, WechatChannel)
    assert ("_statement_client" in vars(alipay), "_statement_client" in vars(wechat)) == (False, False)

    assert (alipay._statement_client._config.timeout, wechat._statement_client._core._timeout) == (90.0, 90.0)
    assert (alipay._client._config.timeout, wechat._client._core._timeout) == (
        settings.CHANNEL_TIMEOUT_SECONDS,
        settings.CHANNEL_TIMEOUT_SECONDS,
    )
    assert alipay._statement_client is alipay._statement_client


def test_warm_channels_builds_what_is_configured_and_reports_the_rest(
    settings: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _unconfigure(settings)
    settings.CHANNEL_SIMULATOR_ENABLED = True
    settings.CHANNEL_SIMULATOR_KEYS_DIR = tmp_path / "channel-keys"
    assert warm_channels() == ["alipay", "wechat"]

    settings.CHANNEL_SIMULATOR_ENABLED = False
    with caplog.at_level(logging.WARNING, logger="payments.channels.registry"):
        assert warm_channels() == []
    assert [r.getMessage() for r in caplog.records if r.name == "payments.channels.registry"] == [
        f"payment channel {code} not built in advance: payment channel settings are missing and the channel "
        "simulator is not enabled (set ALIPAY_*/WECHAT_* or CHANNEL_SIMULATOR_ENABLED=1)"
        for code in ("alipay", "wechat")
    ]
