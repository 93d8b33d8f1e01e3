"""Pick a channel adapter by code from the variants table ``settings.PAYMENT_CHANNELS``.

Each entry names an adapter class (``ADAPTER``) and its ``OPTIONS`` (see the channel section of ``mall/settings.py``,
which builds the table from the environment). Here options are made ready for the adapter: a secret is read from
the file its ``_file`` option names, keys are normalised to the PEM the SDKs want, a ``demo_keys`` directory fills
ids and keys from the demo key set, and a missing option is refused by the name of the setting it comes from.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from payments.channels.base import RefundChannel
from payments.channels.demo_keys import DemoKeys, ensure_keys

if TYPE_CHECKING:
    from payments.channels.alipay import AlipaySettings
    from payments.channels.wechat import WechatSettings

logger = logging.getLogger(__name__)
NOT_CONFIGURED = (
    "payment channel settings are missing and the channel simulator is not enabled "
    "(set ALIPAY_*/WECHAT_* or CHANNEL_SIMULATOR_ENABLED=1)"
)


def get_channel(code: str) -> RefundChannel:
    """The adapter for ``code`` ('alipay' or 'wechat').

    Building one parses RSA keys and SDK clients (milliseconds of CPU), so adapters are built once per process
    and configuration: the cache is keyed by what the adapter is made from (key files by path, size and
    modification time, so a rotated key file is read again) and looked up without parsing anything."""
    return _built(code, _fingerprint(code))


def channel_codes() -> list[str]:
    return list(_table())


def warm_channels() -> list[str]:
    """Build every configured adapter now (a worker does this before it starts taking jobs). Returns the codes
    built; a channel that cannot be built is left for its first job to report."""
    built = []
    for code in channel_codes():
        try:
            get_channel(code)
        except ImproperlyConfigured as error:
            logger.warning("payment channel %s not built in advance: %s", code, error)
        else:
            built.append(code)
    return built


@functools.lru_cache(maxsize=8)
def _built(code: str, fingerprint: str) -> RefundChannel:
    adapter = import_string(_variant(code)["ADAPTER"])
    channel: RefundChannel = adapter.from_options(channel_options(code))
    return channel


def _table() -> Mapping[str, Mapping[str, Any]]:
    table: Mapping[str, Mapping[str, Any]] = getattr(settings, "PAYMENT_CHANNELS", {})
    return table


def _variant(code: str) -> Mapping[str, Any]:
    try:
        return _table()[code]
    except KeyError:
        raise LookupError(f"unknown payment channel {code!r}") from None


def _options(code: str) -> Mapping[str, Any]:
    options: Mapping[str, Any] = _variant(code).get("OPTIONS", {})
    return options


# Settings every adapter is built from besides its options.
_COMMON_SETTINGS = ("PAYMENTS_NOTIFY_BASE_URL", "CHANNEL_TIMEOUT_SECONDS", "CHANNEL_STATEMENT_TIMEOUT_SECONDS")


def _fingerprint(code: str) -> str:
    """A digest of what ``code``'s adapter is built from; the secrets themselves are not kept in the key."""
    variant = _variant(code)
    parts: list[str] = [code, repr(variant.get("ADAPTER"))]
    parts.extend(repr(_setting(name, None)) for name in _COMMON_SETTINGS)
    for name, value in sorted(_options(code).items()):
        parts.append(f"{name}={value!r}")
        path = str(value or "").strip() if name.endswith("_file") else ""
        try:
            stat = os.stat(path) if path else None
        except OSError:
            stat = None
        parts.append(f"{stat.st_size}:{stat.st_mtime_ns}" if stat else "")
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def notify_url(code: str) -> str:
    """Where a channel posts refund notifications for us: ``{PAYMENTS_NOTIFY_BASE_URL}/payments/notify/<code>/``."""
    base = str(_setting("PAYMENTS_NOTIFY_BASE_URL", "http://127.0.0.1:8000")).rstrip("/")
    return f"{base}/payments/notify/{code}/"


def channel_options(code: str) -> dict[str, Any]:
    """``code``'s options as its adapter takes them: secrets read, keys in PEM, notify URL and timeouts added.

    Raises ImproperlyConfigured naming the setting to set when the channel's merchant id or a required option is
    missing (the adapter class lists them in ``REQUIRED_OPTIONS``, merchant id first)."""
    given = dict(_options(code))
    demo_keys = str(given.pop("demo_keys", "") or "").strip()
    options: dict[str, Any] = _load_demo_keys(demo_keys).options(code) if demo_keys else {}
    secret_names = [name for name in given if f"{name}_file" in given]
    for name, value in given.items():
        if name not in secret_names and not name.endswith("_file") and (value or name not in options):
            options[name] = str(value or "").strip()
    required: tuple[str, ...] = getattr(import_string(_variant(code)["ADAPTER"]), "REQUIRED_OPTIONS", ())
    if required and not options.get(required[0]):
        raise ImproperlyConfigured(NOT_CONFIGURED)
    for name in secret_names:
        if _present(given, name) or name not in options:
            options[name] = _secret(code, given, name)
    for name in required:
        if not options.get(name):
            raise ImproperlyConfigured(f"{_setting_name(code, name)} is required for this payment channel")
    for name in list(options):
        if name.endswith("private_key"):
            options[name] = private_key_pem(options[name])
        elif name.endswith("public_key"):
            options[name] = public_key_pem(options[name])
    return {**options, "notify_url": notify_url(code), **_timeouts()}


def alipay_settings() -> AlipaySettings:
    from payments.channels.alipay import AlipaySettings

    return AlipaySettings.from_options(channel_options("alipay"))


def wechat_settings() -> WechatSettings:
    from payments.channels.wechat import WechatSettings

    return WechatSettings.from_options(channel_options("wechat"))


@functools.lru_cache(maxsize=4)
def _load_demo_keys(directory: str) -> DemoKeys:
    return ensure_keys(Path(directory))


# --- option access --------------------------------------------------------------------------------------
def _setting(name: str, default: Any = "") -> Any:
    value = getattr(settings, name, default)
    return default if value is None else value


def _setting_name(code: str, option: str) -> str:
    return f"{code}_{option}".upper()


def _present(given: Mapping[str, Any], name: str) -> bool:
    return bool(str(given.get(name) or "").strip() or str(given.get(f"{name}_file") or "").strip())


def _secret(code: str, given: Mapping[str, Any], name: str) -> str:
    """A secret given inline or as a file path (``<name>_file``); the value is never logged."""
    value = str(given.get(name) or "").strip()
    if value:
        return value
    setting = _setting_name(code, name)
    path = str(given.get(f"{name}_file") or "").strip()
    if not path:
        raise ImproperlyConfigured(f"{setting} or {setting}_FILE is required for this payment channel")
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ImproperlyConfigured(f"{setting}_FILE cannot be read ({exc.strerror})") from None


def _timeouts() -> dict[str, float]:
    return {
        "timeout": float(_setting("CHANNEL_TIMEOUT_SECONDS", 10) or 10),
        "statement_timeout": float(_setting("CHANNEL_STATEMENT_TIMEOUT_SECONDS", 120) or 120),
    }


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
