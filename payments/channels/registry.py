"""Pick a channel adapter by code, configured from Django settings.

A channel whose merchant settings are unset (``ALIPAY_APP_ID`` / ``WECHAT_MCH_ID``) talks to the bundled
simulator at ``CHANNEL_SIMULATOR_URL`` with demo keys generated once into ``CHANNEL_SIMULATOR_KEYS_DIR`` —
allowed when ``CHANNEL_SIMULATOR_ENABLED`` (the default in DEBUG), refused otherwise so that a production
deployment missing its secrets fails loudly instead of refunding into a simulator.
"""

from __future__ import annotations

import base64
import binascii
import functools
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from payments.channels.alipay import AlipayChannel, AlipaySettings
from payments.channels.base import RefundChannel
from payments.channels.wechat import WechatChannel, WechatSettings
from payments.simulator.keys import SimulatorKeys, ensure_keys

ALIPAY_GATEWAY = "https://openapi.alipay.com/gateway.do"
WECHAT_GATEWAY = "https://api.mch.weixin.qq.com"
CHANNEL_CODES = ("alipay", "wechat")


def get_channel(code: str) -> RefundChannel:
    """The adapter for ``code`` ('alipay' or 'wechat'). Adapters are cached per configuration."""
    if code == "alipay":
        return _alipay(alipay_settings())
    if code == "wechat":
        return _wechat(wechat_settings())
    raise LookupError(f"unknown payment channel {code!r}")


@functools.lru_cache(maxsize=8)
def _alipay(config: AlipaySettings) -> AlipayChannel:
    return AlipayChannel(config)


@functools.lru_cache(maxsize=8)
def _wechat(config: WechatSettings) -> WechatChannel:
    return WechatChannel(config)


def notify_url(code: str) -> str:
    """Where a channel posts refund notifications for us: ``{PAYMENTS_NOTIFY_BASE_URL}/payments/notify/<code>/``."""
    base = str(_setting("PAYMENTS_NOTIFY_BASE_URL", "http://127.0.0.1:8000")).rstrip("/")
    return f"{base}/payments/notify/{code}/"


def uses_simulator(code: str) -> bool:
    return not _setting({"alipay": "ALIPAY_APP_ID", "wechat": "WECHAT_MCH_ID"}[code])


def alipay_settings() -> AlipaySettings:
    common: dict[str, Any] = {"notify_url": notify_url("alipay"), **_timeouts()}
    if uses_simulator("alipay"):
        keys = simulator_keys()
        return AlipaySettings(
            app_id=keys.alipay_app_id,
            gateway=_simulator_url() + "/gateway.do",
            app_private_key=keys.alipay_app_private_key,
            alipay_public_key=keys.alipay_platform_public_key,
            **common,
        )
    return AlipaySettings(
        app_id=str(_setting("ALIPAY_APP_ID")),
        gateway=str(_setting("ALIPAY_GATEWAY") or ALIPAY_GATEWAY),
        app_private_key=private_key_pem(_secret("ALIPAY_PRIVATE_KEY")),
        alipay_public_key=public_key_pem(_secret("ALIPAY_PUBLIC_KEY")),
        **common,
    )


def wechat_settings() -> WechatSettings:
    common: dict[str, Any] = {"notify_url": notify_url("wechat"), **_timeouts()}
    if uses_simulator("wechat"):
        keys = simulator_keys()
        return WechatSettings(
            mch_id=keys.wechat_mch_id,
            app_id=keys.wechat_app_id,
            cert_serial_no=keys.wechat_merchant_serial_no,
            public_key_id=keys.wechat_public_key_id,
            gateway=_simulator_url(),
            private_key=keys.wechat_merchant_private_key,
            public_key=keys.wechat_platform_public_key,
            api_v3_key=keys.wechat_api_v3_key,
            **common,
        )
    api_v3_key = _secret("WECHAT_API_V3_KEY").strip()
    if len(api_v3_key.encode()) != 32:
        raise ImproperlyConfigured("WECHAT_API_V3_KEY must be the 32-character API v3 key")
    return WechatSettings(
        mch_id=str(_setting("WECHAT_MCH_ID")),
        app_id=_required("WECHAT_APP_ID"),
        cert_serial_no=_required("WECHAT_CERT_SERIAL_NO"),
        public_key_id=_required("WECHAT_PUBLIC_KEY_ID"),
        gateway=str(_setting("WECHAT_GATEWAY") or WECHAT_GATEWAY),
        private_key=private_key_pem(_secret("WECHAT_PRIVATE_KEY")),
        public_key=public_key_pem(_secret("WECHAT_PUBLIC_KEY")),
        api_v3_key=api_v3_key,
        **common,
    )


def simulator_keys() -> SimulatorKeys:
    if not _setting("CHANNEL_SIMULATOR_ENABLED", settings.DEBUG):
        raise ImproperlyConfigured(
            "payment channel settings are missing and the channel simulator is not enabled "
            "(set ALIPAY_*/WECHAT_* or CHANNEL_SIMULATOR_ENABLED=1)"
        )
    default = Path(_setting("VAR_DIR", Path(settings.BASE_DIR) / "var")) / "channel-keys"
    return _load_simulator_keys(str(_setting("CHANNEL_SIMULATOR_KEYS_DIR") or default))


@functools.lru_cache(maxsize=4)
def _load_simulator_keys(directory: str) -> SimulatorKeys:
    return ensure_keys(Path(directory))


# --- settings access ------------------------------------------------------------------------------------
def _setting(name: str, default: Any = "") -> Any:
    value = getattr(settings, name, default)
    return default if value is None else value


def _required(name: str) -> str:
    value = str(_setting(name)).strip()
    if not value:
        raise ImproperlyConfigured(f"{name} is required for this payment channel")
    return value


def _secret(name: str) -> str:
    """A secret given inline (``NAME``) or as a file path (``NAME_FILE``); the value is never logged."""
    value = str(_setting(name)).strip()
    if value:
        return value
    path = str(_setting(f"{name}_FILE")).strip()
    if not path:
        raise ImproperlyConfigured(f"{name} or {name}_FILE is required for this payment channel")
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}_FILE cannot be read ({exc.strerror})") from None


def _timeouts() -> dict[str, float]:
    return {
        "timeout": float(_setting("CHANNEL_TIMEOUT_SECONDS", 10) or 10),
        "statement_timeout": float(_setting("CHANNEL_STATEMENT_TIMEOUT_SECONDS", 120) or 120),
    }


def _simulator_url() -> str:
    return str(_setting("CHANNEL_SIMULATOR_URL", "http://127.0.0.1:8765")).rstrip("/")


# --- key formats ----------------------------------------------------------------------------------------
# Consoles hand out keys as bare base64 (PKCS#1 or PKCS#8), or PEM of either kind; both SDKs want PEM,
# and wechatpayv3 only PKCS#8. Normalise once here.
def private_key_pem(text: str) -> str:
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            key = serialization.load_der_private_key(base64.b64decode("".join(text.split())), password=None)
    except (ValueError, TypeError, binascii.Error):
        raise ImproperlyConfigured("a payment private key is not a readable unencrypted RSA key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ImproperlyConfigured("payment private keys must be RSA keys")
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_key_pem(text: str) -> str:
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode("".join(text.split())))
    except (ValueError, TypeError, binascii.Error):
        raise ImproperlyConfigured("a payment public key is not a readable RSA public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ImproperlyConfigured("payment public keys must be RSA keys")
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
