"""The one masker of secrets and of the payer's personal data, for whatever leaves a process or is kept to be read
by people: log lines, channel answers stored on an attempt, the console's view of them.

A value is masked when its key names a secret (any word of the key in snake, kebab or camel case: ``password``,
``api_key``, ``privateKey``, ``HTTP_AUTHORIZATION``...) or is a field in which a payment channel sends the payer's
account or an encrypted envelope (``buyer_logon_id``, ``openid``, ``ciphertext``...). In free text, the password
part of URLs, ``Authorization``/``Cookie`` headers and ``key=value`` pairs of secret keys are masked too.

Imported by gunicorn's configuration before Django is set up (through ``mall.logging``): it must not touch
settings at import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

MASK = "***"

_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "token",
        "secret",
        "key",
        "apikey",
        "authorization",
        "auth",
        "cookie",
        "cookies",
        "sign",
        "signature",
        "private",
        "privatekey",
        "credential",
        "credentials",
        "sessionid",
        "csrftoken",
        "dsn",
        "cert",
        "certificate",
        "serial",
        "ciphertext",
    }
)
# What Alipay and WeChat Pay send about the payer, and the pieces of WeChat Pay's encrypted envelope.
_PAYER_DATA_KEYS = frozenset(
    {
        "buyer_logon_id",
        "buyer_user_id",
        "buyer_id",
        "buyer_open_id",
        "openid",
        "sp_openid",
        "sub_openid",
        "user_received_account",
        "payer",
        "nonce",
        "apiv3_key",
        "api_v3_key",
    }
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD = re.compile(r"[a-z0-9]+")
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@/\s]+(?=@)")
_HEADER_IN_TEXT = re.compile(
    r"(?i)(\b(?:proxy-)?authorization\b|\b(?:set-)?cookie\b)(['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n]+"
)
_PAIR_IN_TEXT = re.compile(
    r"(?i)(\b[\w-]*(?:password|passwd|secret|token|api[_-]?key|private[_-]?key|sign|signature|sessionid|csrftoken)"
    r"[\w-]*)(['\"]?\s*[:=]\s*['\"]?)[^\s'\"&,;}]+"
)
_MAX_DEPTH = 8


def secret_key(key: object) -> bool:
    """Whether a field named ``key`` holds a secret or the payer's personal data."""
    if not isinstance(key, str):
        return False
    if key.lower() in _PAYER_DATA_KEYS:
        return True
    words = _WORD.findall(_CAMEL.sub("_", key).lower())
    return any(word in _SECRET_WORDS for word in words) or "".join(words) in _SECRET_WORDS


def redact_text(text: str) -> str:
    text = _URL_PASSWORD.sub(rf"\g<head>{MASK}", text)
    text = _HEADER_IN_TEXT.sub(rf"\1\2{MASK}", text)
    return _PAIR_IN_TEXT.sub(rf"\1\2{MASK}", text)


def redact(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` with secrets masked: values under secret keys, URL passwords, secrets in text."""
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, (bool, int, float, Decimal, date, datetime)):
        return value
    if depth >= _MAX_DEPTH:
        return MASK
    if isinstance(value, Mapping):
        return {
            key: (MASK if secret_key(key) and value[key] not in (None, "") else redact(value[key], depth + 1))
            for key in value
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact(item, depth + 1) for item in value]
    return redact_text(str(value))
