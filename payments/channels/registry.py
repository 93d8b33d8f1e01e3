"""Pick a channel adapter by code, configured from Django settings.

A channel whose merchant settings are unset (``ALIPAY_APP_ID`` / ``WECHAT_MCH_ID``) talks to the bundled
simulator at ``CHANNEL_SIMULATOR_URL`` with demo keys generated once into ``CHANNEL_SIMULATOR_KEYS_DIR`` —
allowed when ``CHANNEL_SIMULATOR_ENABLED`` (the default in debug or on the embedded database), refused otherwise
so that a production deployment missing its secrets fails loudly instead of refunding into a simulator.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import logging
import os
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
logger = logging.getLogger(__name__)


def get_channel(code: str) -> RefundChannel:
    """The adapter for ``code`` ('alipay' or 'wechat').

    Building one parses RSA keys and SDK clients (milliseconds of CPU), so adapters are built once per process
    and configuration: the cache is keyed by the settings the adapter is made from (key files by path, size and
    modification time, so a rotated key file is read again) and looked up without parsing anything."""
    if code not in CHANNEL_CODES:
        raise LookupError(f"unknown payment channel {code!r}")
    return _built(code, _fingerprint(code))


def warm_channels() -> list[str]:
    """Build every configured adapter now (a worker does this before it starts taking jobs). Returns the codes
    built; a channel that cannot be built is left for its first job to report."""
    built = []
    for code in CHANNEL_CODES:
        try:
            get_channel(code)
        except ImproperlyConfigured as error:
            logger.warning("payment channel %s not built in advance: %s", code, error)
        else:
            built.append(code)
    return built


@functools.lru_cache(maxsize=8)
def _built(code: str, fingerprint: str) -> RefundChannel:
    if code == "alipay":
        return AlipayChannel(alipay_settings())
    return WechatChannel(wechat_settings())


# Every setting an adapter is built from, by channel (secrets also as NAME_FILE).
_COMMON_SETTINGS = (
    "PAYMENTS_NOTIFY_BASE_URL",
    "CHANNEL_TIMEOUT_SECONDS",
    "CHANNEL_STATEMENT_TIMEOUT_SECONDS",
    "CHANNEL_SIMULATOR_ENABLED",
    "DEBUG",
    "CHANNEL_SIMULATOR_URL",
    "CHANNEL_SIMULATOR_KEYS_DIR",
    "VAR_DIR",
    "BASE_DIR",
)
_CHANNEL_SETTINGS = {
    "alipay": ("ALIPAY_APP_ID", "ALIPAY_GATEWAY"),
    "wechat": ("WECHAT_MCH_ID", "WECHAT_APP_ID", "WECHAT_CERT_SERIAL_NO", "WECHAT_PUBLIC_KEY_ID", "WECHAT_GATEWAY"),
}
_CHANNEL_SECRETS = {
    "alipay": ("ALIPAY_PRIVATE_KEY", "ALIPAY_PUBLIC_KEY"),
    "wechat": ("WECHAT_PRIVATE_KEY", "WECHAT_PUBLIC_KEY", "WECHAT_API_V3_KEY"),
}


def _fingerprint(code: str) -> str:
    """A digest of what ``code``'s adapter is built from; the secrets themselves are not kept in the key."""
    parts: list[str] = [code]
    parts.extend(repr(_setting(name, None)) for name in (*_COMMON_SETTINGS, *_CHANNEL_SETTINGS[code]))
    for name in _CHANNEL_SECRETS[code]:
        parts.append(repr(_setting(name)))
        path = str(_setting(f"{name}_FILE")).strip()
        try:
            stat = os.stat(path) if path else None
        except OSError:
            stat = None
        parts.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}" if stat else path)
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


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
