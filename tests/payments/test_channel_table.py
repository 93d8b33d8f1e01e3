"""The channels' variants table in settings decides which adapter serves a code, and with which options; the
simulators stay outside the product: nothing but their entry points, the demo seeding and the tests imports them,
and they import nothing of the apps."""

from __future__ import annotations

import ast
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from payments.channels import get_channel
from payments.channels.registry import channel_codes, warm_channels

ROOT = Path(__file__).resolve().parents[2]


class RecordingChannel:
    """An adapter that keeps what it was built from."""

    code = "recording"
    REQUIRED_OPTIONS = ("merchant", "private_key")
    built = 0

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RecordingChannel:
        cls.built += 1
        return cls(options)


def test_the_adapter_named_in_the_table_is_built_with_its_options(
    settings: Any, channel_keys: Any, tmp_path: Path
) -> None:
    key_file = tmp_path / "private.pem"
    key_file.write_text(channel_keys.alipay_app_private_key)
    settings.CHANNEL_TIMEOUT_SECONDS = 3.0
    settings.CHANNEL_STATEMENT_TIMEOUT_SECONDS = 60.0
    settings.PAYMENTS_NOTIFY_BASE_URL = "https://shop.example.cn"
    settings.PAYMENT_CHANNELS = {
        "unionpay": {
            "ADAPTER": f"{__name__}.RecordingChannel",
            "OPTIONS": {
                "merchant": "M-1",
                "gateway": "https://gateway.example",
                "private_key": "",
                "private_key_file": str(key_file),
            },
        }
    }
    before = RecordingChannel.built

    channel = get_channel("unionpay")

    assert type(channel) is RecordingChannel
    assert channel.options == {
        "merchant": "M-1",
        "gateway": "https://gateway.example",
        "private_key": channel_keys.alipay_app_private_key,
        "notify_url": "https://shop.example.cn/payments/notify/unionpay/",
        "timeout": 3.0,
        "statement_timeout": 60.0,
    }
    assert get_channel("unionpay") is channel
    assert RecordingChannel.built == before + 1
    assert channel_codes() == ["unionpay"]
    assert warm_channels() == ["unionpay"]
    with pytest.raises(LookupError, match="'alipay'"):
        get_channel("alipay")


def test_a_table_entry_without_its_merchant_or_a_required_option_is_refused(settings: Any) -> None:
    adapter = f"{__name__}.RecordingChannel"
    settings.PAYMENT_CHANNELS = {"unionpay": {"ADAPTER": adapter, "OPTIONS": {"merchant": "", "private_key": "k"}}}
    with pytest.raises(ImproperlyConfigured, match="payment channel settings are missing"):
        get_channel("unionpay")

    settings.PAYMENT_CHANNELS = {
        "unionpay": {"ADAPTER": adapter, "OPTIONS": {"merchant": "M-1", "private_key": "", "private_key_file": ""}}
    }
    with pytest.raises(ImproperlyConfigured, match=r"^UNIONPAY_PRIVATE_KEY or UNIONPAY_PRIVATE_KEY_FILE is required"):
        get_channel("unionpay")


def test_settings_fill_the_table_from_the_merchant_settings_or_with_the_simulator(settings: Any) -> None:
    settings.CHANNEL_SIMULATOR_ENABLED = True
    settings.CHANNEL_SIMULATOR_URL = "http://sim.example:8765/"
    settings.CHANNEL_SIMULATOR_KEYS_DIR = Path("/srv/keys")
    settings.ALIPAY_APP_ID = ""
    settings.WECHAT_MCH_ID = "1900000001"
    settings.WECHAT_GATEWAY = ""

    assert settings.PAYMENT_CHANNELS["alipay"] == {
        "ADAPTER": "payments.channels.alipay.AlipayChannel",
        "OPTIONS": {"gateway": "http://sim.example:8765/gateway.do", "demo_keys": "/srv/keys"},
    }
    assert settings.PAYMENT_CHANNELS["wechat"]["ADAPTER"] == "payments.channels.wechat.WechatChannel"
    assert settings.PAYMENT_CHANNELS["wechat"]["OPTIONS"]["mch_id"] == "1900000001"
    assert settings.PAYMENT_CHANNELS["wechat"]["OPTIONS"]["gateway"] == "https://api.mch.weixin.qq.com"
    assert "demo_keys" not in settings.PAYMENT_CHANNELS["wechat"]["OPTIONS"]

    settings.CHANNEL_SIMULATOR_ENABLED = False
    assert settings.PAYMENT_CHANNELS["alipay"]["OPTIONS"] == {
        "app_id": "",
        "private_key": settings.ALIPAY_PRIVATE_KEY,
        "private_key_file": settings.ALIPAY_PRIVATE_KEY_FILE,
        "public_key": settings.ALIPAY_PUBLIC_KEY,
        "public_key_file": settings.ALIPAY_PUBLIC_KEY_FILE,
        "gateway": settings.ALIPAY_GATEWAY or "https://openapi.alipay.com/gateway.do",
    }


# --- the simulators stay outside the product -------------------------------------------------------------
SIMULATORS = ("payments.simulator", "logistics.simulator")
# Where the project starts or feeds a simulator: its entry points and the demo seeding (a composition root).
SIMULATOR_USERS = {
    "payments/management/commands/channel_simulator.py",
    "logistics/management/commands/carrier_simulator.py",
    "mall/demo/gateway.py",
}
NOT_PRODUCT = ("tests/", "benchmarks/", ".venv/", "var/", "payments/simulator/", "logistics/simulator/")
# What a simulator may import besides its own package and the standard library.
SIMULATOR_MAY_IMPORT = {"cryptography", "requests", "django.conf"}


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _sources() -> list[tuple[str, Path]]:
    return sorted((path.relative_to(ROOT).as_posix(), path) for path in ROOT.rglob("*.py"))


def test_no_module_outside_the_simulators_and_the_tests_imports_a_simulator() -> None:
    found = sorted(
        (name, imported)
        for name, path in _sources()
        if not name.startswith(NOT_PRODUCT) and name not in SIMULATOR_USERS
        for imported in _imports(path)
        if imported.startswith(SIMULATORS)
    )
    assert found == []


def test_the_simulators_import_only_their_own_package_the_standard_library_and_sdk_free_libraries() -> None:
    found = sorted(
        (name, imported)
        for package in SIMULATORS
        for name, path in _sources()
        if name.startswith(package.replace(".", "/") + "/")
        for imported in _imports(path)
        if not imported.startswith(package)
        and imported.split(".")[0] not in sys.stdlib_module_names
        and not any(imported == allowed or imported.startswith(allowed + ".") for allowed in SIMULATOR_MAY_IMPORT)
    )
    assert found == []
